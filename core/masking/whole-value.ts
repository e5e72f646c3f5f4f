// Whether a value under a name rule (a column or JSON key the policy names) is one valid value of the
// rule's type. A partial layout shows the part of a value its type can spare (a CPF's check digits,
// a phone's last four digits, an e-mail's first letter and domain); applied to a value of another
// type it shows other parts. `SELECT cpf, cpf AS email, cpf AS telefone` returned three layouts of one
// CPF, its first digit, two more and the check digits, leaving 8,265 candidates (review 24). A value
// that is not one valid value of the rule's type is masked whole instead (Session.maskWhole).
import { isCard, isCnh, isCnpj, isCns, isCpf, isIpv4, isIpv6, isPis, isRenavam, isTitulo, phoneKind } from './checksums.ts';
import { isDateText } from './detect.ts';
import { splitPhone } from './render.ts';
import type { DetectorName } from './types.ts';

/** Digits and the punctuation their printed layouts use, nothing else. */
const NUMERIC_LAYOUT = /^[0-9.()/+ -]+$/;
const CNPJ_LAYOUT = /^[0-9A-Z./ -]+$/;
/** 01310-100, 01310100, 01.310-100. */
const CEP_LAYOUT = /^[0-9]{2}\.?[0-9]{3}-?[0-9]{3}$/;
const EMAIL = /^[^\s@]+@[^\s@.]+(?:\.[^\s@.]+)+$/;

/** What every check reads of one value, computed once (a masked cell pays for all of them). */
interface Read { value: string; digits: string; numeric: boolean }

function read(value: string): Read {
  const numeric = NUMERIC_LAYOUT.test(value);
  return { value, numeric, digits: numeric ? value.replace(/[^0-9]/g, '') : '' };
}

const CHECKS: Readonly<Record<DetectorName, (r: Read) => boolean>> = {
  cpf: (r) => r.digits.length === 11 && isCpf(r.digits),
  cnpj: (r) => r.value.length <= 24 && CNPJ_LAYOUT.test(r.value) && isCnpj(r.value.replace(/[^0-9A-Z]/g, '')),
  cnh: (r) => r.digits.length === 11 && isCnh(r.digits),
  pis: (r) => r.digits.length === 11 && isPis(r.digits),
  tituloEleitor: (r) => r.digits.length === 12 && isTitulo(r.digits),
  cns: (r) => r.digits.length === 15 && isCns(r.digits),
  renavam: (r) => (r.digits.length === 11 || r.digits.length === 9) && isRenavam(r.digits),
  card: (r) => r.digits.length >= 13 && r.digits.length <= 19 && isCard(r.digits),
  phone: (r) => r.digits.length >= 10 && r.digits.length <= 13 && phoneKind(splitPhone(r.digits).national) !== null,
  cep: (r) => r.digits.length === 8 && CEP_LAYOUT.test(r.value),
  email: (r) => r.value.includes('@') && EMAIL.test(r.value),
  ip: (r) => (r.value.includes('.') || r.value.includes(':')) && (isIpv4(r.value) || isIpv6(r.value)),
  birthDate: (r) => r.digits.length === 8 && isDateText(r.value),
};

/** Types whose partial layouts keep the same characters (README "Partial layouts"). */
const LAYOUT: Readonly<Record<DetectorName, string>> = {
  cpf: 'lastTwo', cnpj: 'lastTwo', cnh: 'lastTwo', pis: 'lastTwo', tituloEleitor: 'lastTwo', cns: 'lastTwo', renavam: 'lastTwo',
  card: 'lastFour', phone: 'lastFour', cep: 'cep', email: 'email', ip: 'ip', birthDate: 'birthDate',
};

const TYPES = Object.keys(CHECKS) as DetectorName[];

/**
 * Whether `value` (surrounding spaces aside) is one valid value of type `detector`, and of no type
 * whose layout keeps other characters: a CPF whose digits also spell a mobile number (DDD, then 9)
 * would show four digits under `telefone` where its own layout shows two.
 */
export function isWholeValue(detector: DetectorName, value: string): boolean {
  const r = read(value.trim());
  return CHECKS[detector](r) && !TYPES.some((t) => LAYOUT[t] !== LAYOUT[detector] && CHECKS[t](r));
}
