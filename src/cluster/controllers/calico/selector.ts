/**
 * The part of Calico's selector language (libcalico-go/lib/selector) IPPool.nodeSelector and
 * BGPPeer selectors use in practice: `all()`, `has(k)`, `!has(k)`, `k == 'v'`, `k != 'v'`,
 * `k in {'a','b'}`, joined with `&&`. Anything else is reported, not guessed.
 */

type Term = (labels: Readonly<Record<string, string>>) => boolean;

const TERM_RES: readonly [RegExp, (m: RegExpExecArray) => Term][] = [
  [/^all\(\)$/, () => () => true],
  [/^has\(\s*([\w./-]+)\s*\)$/, (m) => (l) => m[1]! in l],
  [/^!\s*has\(\s*([\w./-]+)\s*\)$/, (m) => (l) => !(m[1]! in l)],
  [/^([\w./-]+)\s*==\s*(['"])(.*)\2$/, (m) => (l) => l[m[1]!] === m[3]],
  [/^([\w./-]+)\s*!=\s*(['"])(.*)\2$/, (m) => (l) => l[m[1]!] !== m[3]],
  [
    /^([\w./-]+)\s+in\s+\{(.*)\}$/,
    (m) => {
      const vals = m[2]!.split(',').map((v) => v.trim().replace(/^(['"])(.*)\1$/, '$2'));
      return (l) => l[m[1]!] !== undefined && vals.includes(l[m[1]!]!);
    },
  ],
];

/** Parses a selector; returns a problem text for what podpath does not understand. */
export function parseSelector(text: string): Term | string {
  const src = text.trim();
  if (src === '') return () => true;
  const terms: Term[] = [];
  for (const part of src.split('&&')) {
    const t = part.trim();
    const hit = TERM_RES.map(([re, mk]) => {
      const m = re.exec(t);
      return m ? mk(m) : null;
    }).find((x) => x !== null);
    if (!hit) return `selector term "${t}" is not understood (podpath reads all(), has(k), !has(k), k == 'v', k != 'v', k in {…}, joined by &&)`;
    terms.push(hit);
  }
  return (l) => terms.every((f) => f(l));
}

export function selectorMatchesNode(text: string, labels: Readonly<Record<string, string>>): boolean {
  const s = parseSelector(text);
  return typeof s === 'string' ? false : s(labels);
}
