/**
 * A scenario's text with every step's single expectation written as a list of one (`expect: ok` →
 * `expect: [ok]`; a list of several → the list of its first): judged as written even after a fault the
 * scenario did not plan (steps/expect.ts yieldsToInjectedFault()), so a test can make any injected errno
 * a violation. The top-level `expect:` block (a mapping on the lines below) is left as it is.
 */
export function strictExpectations(text: string): string {
  return text
    .replace(/expect: \[(\w+)(, [^\]]*)?\]/g, "expect: [$1]")
    .replace(/expect: (\w+)(?=\s*($|[,}]))/gm, "expect: [$1]");
}
