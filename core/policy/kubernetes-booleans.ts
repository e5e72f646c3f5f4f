// The boolean query parameters of the Kubernetes API, read as the apiserver reads them. Its
// parameter codec (runtime.Convert_Slice_string_To_bool, k8s.io/apimachinery) takes the first value
// and reads everything but "0" and "false" (any case) as true: `follow=yes`, `watch=on`, `watch=f`
// and `follow=` are all true there. Other readers disagree (strconv.ParseBool reads `f` as false and
// refuses `yes`; requestinfo.go reads `watch` with the codec, falling back to its own switch), so a
// spelling whose reading depends on the reader, or a repeated parameter (first or last), is refused
// rather than guessed: the sidecar bounds and routes streams by these values (a followed log, a
// watch), and a differential here lets a stream pass as a plain answer (round 11 review, finding 3).

// Every boolean parameter the apiserver's codec reads (ListOptions, PodLogOptions, PodExecOptions,
// PodAttachOptions, DeleteOptions, PatchOptions, TableOptions) and `pretty` (read with ParseBool).
export const BOOLEAN_PARAMETERS: readonly string[] = [
  'watch', 'allowWatchBookmarks', 'sendInitialEvents',
  'follow', 'previous', 'timestamps', 'insecureSkipTLSVerifyBackend',
  'stdin', 'stdout', 'stderr', 'tty',
  'orphanDependents', 'ignoreStoreReadErrorWithClusterBreakingPotential', 'force', 'noHeaders',
  'pretty',
];

// The spellings every reader reads alike (ParseBool and the codec agree on them); `f` and `F` are
// not among them (ParseBool: false, the codec: true), nor `yes`, `on`, the empty value, `tRuE`.
const SPELLINGS: Readonly<Record<string, boolean>> = { true: true, True: true, TRUE: true, t: true, T: true, 1: true, false: false, False: false, FALSE: false, 0: false };

/**
 * The value of boolean parameter `key` (false when absent), or the problem that makes it unreadable:
 * repeated, or spelled so that readers disagree. The problem names the parameter and the fix.
 */
export function booleanParameter(query: URLSearchParams, key: string): boolean | { problem: string } {
  const values = query.getAll(key);
  if (values.length === 0) return false;
  if (values.length > 1) return { problem: `the query repeats ${key}, which parsers read differently (first or last); send it once` };
  const value = values[0] ?? '';
  const flag = SPELLINGS[value];
  if (flag === undefined) return { problem: `${key}=${JSON.stringify(value).slice(1, -1)} is not a boolean every reader agrees on (the apiserver reads anything but false/0 as true); send ${key}=true or ${key}=false` };
  return flag;
}

/** The first boolean parameter of the query that cannot be read unambiguously, as a problem; undefined when all can. */
export function booleanParametersProblem(query: URLSearchParams): string | undefined {
  for (const key of BOOLEAN_PARAMETERS) {
    const read = booleanParameter(query, key);
    if (typeof read !== 'boolean') return read.problem;
  }
  return undefined;
}
