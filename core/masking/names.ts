// Name rules: a JSON key or column name that says what the value is masks the whole value, valid or not.
// User rules (spec.masking.fields) match names exactly, case-insensitively. Built-in rules recognise the usual
// Brazilian and English column names by their words: `cpf`, `nr_cpf`, `cpfCliente`, `email`, `telefone_celular`,
// `dt_nasc`, `data_nascimento`, `birthDate`, `cep`, `zip_code`, `client_ip`, ... unless a word says the value is
// about the identifier rather than the identifier itself (`email_verified`, `cpf_hash`, `cidade_nascimento`).
import type { DetectorName } from './types.ts';

/** Words (after splitting snake/kebab/camel case and removing accents) that name a detector by themselves. */
const WORDS: Readonly<Record<string, DetectorName>> = {
  cpf: 'cpf', cnpj: 'cnpj', cnh: 'cnh', pis: 'pis', pasep: 'pis', nit: 'pis', nis: 'pis', pispasep: 'pis',
  tituloeleitor: 'tituloEleitor', tituloeleitoral: 'tituloEleitor', cns: 'cns', cartaosus: 'cns', renavam: 'renavam',
  cep: 'cep', zip: 'cep', zipcode: 'cep', postalcode: 'cep', codigopostal: 'cep',
  email: 'email', emails: 'email', mail: 'email', emailaddress: 'email',
  telefone: 'phone', telefones: 'phone', fone: 'phone', tel: 'phone', celular: 'phone', cel: 'phone', whatsapp: 'phone',
  phone: 'phone', phones: 'phone', mobile: 'phone', msisdn: 'phone', phonenumber: 'phone',
  creditcard: 'card', cardnumber: 'card', ccnumber: 'card',
  ip: 'ip', ipv4: 'ip', ipv6: 'ip', ipaddress: 'ip', ipaddr: 'ip', remoteaddr: 'ip',
  nascimento: 'birthDate', nasc: 'birthDate', dtnasc: 'birthDate', datanasc: 'birthDate', datanascimento: 'birthDate',
  birth: 'birthDate', birthdate: 'birthDate', birthday: 'birthDate', dob: 'birthDate', aniversario: 'birthDate',
};

/** Two-word names: [first word, second word, detector]. */
const PAIRS: readonly [string, string, DetectorName][] = [
  ['titulo', 'eleitor', 'tituloEleitor'], ['titulo', 'eleitoral', 'tituloEleitor'],
  ['cartao', 'sus', 'cns'], ['cartao', 'saude', 'cns'], ['codigo', 'postal', 'cep'], ['postal', 'code', 'cep'],
  ['zip', 'code', 'cep'], ['e', 'mail', 'email'], ['numero', 'cartao', 'card'], ['cartao', 'credito', 'card'],
  ['cartao', 'debito', 'card'], ['card', 'number', 'card'], ['credit', 'card', 'card'], ['remote', 'addr', 'ip'],
  ['data', 'nascimento', 'birthDate'], ['date', 'birth', 'birthDate'],
];

/** Words saying the value describes the identifier (a flag, a hash, a date, a place), not the identifier. */
const NOT_THE_VALUE = new Set([
  'verified', 'verificado', 'validado', 'valido', 'valid', 'status', 'situacao', 'tipo', 'type', 'kind', 'flag', 'hash',
  'hashed', 'masked', 'mascarado', 'count', 'qtd', 'quantidade', 'total', 'enabled', 'ativo', 'optin', 'opt',
  'consent', 'consentimento', 'confirmed', 'confirmado', 'at', 'em', 'updated', 'created', 'sent', 'enviado',
  'template', 'subject', 'assunto', 'body', 'corpo', 'provider', 'provedor', 'domain', 'dominio', 'format',
  'formato', 'mask', 'preferencia', 'preference', 'notification', 'notificacao', 'length', 'tamanho', 'source',
  'origem', 'cidade', 'city', 'local', 'municipio', 'naturalidade', 'pais', 'country', 'uf', 'estado', 'state',
  'place', 'lugar', 'server', 'servidor', 'host', 'port', 'porta', 'id', 'key', 'chave', 'token', 'version', 'versao',
  'bounce', 'bounced', 'error', 'erro', 'category', 'categoria', 'validade', 'expiry', 'expiration', 'vencimento',
  'emissao', 'brand', 'bandeira', 'name', 'nome', 'ddd', 'ddi', 'regiao', 'region', 'app', 'os', 'device',
  'dispositivo', 'platform', 'plataforma', 'agent', 'browser', 'carrier', 'operadora',
]);

const ACCENTS = /[\u0300-\u036f]/g;
const WORD = /[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+/g;

/** Splits `dataNascimento`, `DT_NASC`, `e-mail`, `IPAddress`, `telefone2` into lower-case words without accents. */
export function nameWords(name: string): string[] {
  const plain = name.normalize('NFD').replace(ACCENTS, '');
  return (plain.match(WORD) ?? []).map((w) => w.toLowerCase()).filter((w) => !/^[0-9]+$/.test(w));
}

/** The detector a column/key name designates, or null. */
export function builtinNameDetector(name: string): DetectorName | null {
  const words = nameWords(name);
  if (words.length === 0 || words.length > 5 || words.some((w) => NOT_THE_VALUE.has(w))) return null;
  const compact = WORDS[words.join('')];
  if (compact !== undefined) return compact;
  for (const [a, b, det] of PAIRS) {
    const i = words.indexOf(a);
    if (i !== -1 && words.indexOf(b, i + 1) !== -1) return det;
  }
  for (const w of words) {
    const det = WORDS[w];
    if (det !== undefined) return det;
  }
  return null;
}
