import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", "out/", "dist/", "bench/results.json", "coverage/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-constant-condition": ["error", { checkLoops: false }],
    },
  },
  {
    // A generator function made inside another function is a new function object each time, and V8
    // gives each one its own hidden class for its generators, in old space, pointing back at it: what
    // it captures (a whole run, for the runner's step lists) then outlives every minor GC until the
    // next full one. Per-run ones cost pool-race's explorer 9% of its time in scavenges. Write them
    // at module level and call them from an arrow; the few made once, at boot, say why.
    files: ["src/**/*.ts"],
    rules: {
      "no-restricted-syntax": [
        "error",
        {
          selector: ":function :matches(FunctionDeclaration, FunctionExpression)[generator=true]",
          message:
            "a generator function made inside a function pins what it captures until a full GC: make it a module-level function* and call it from an arrow (eslint.config.js)",
        },
      ],
    },
  },
  {
    files: ["bin/**/*.js", "scripts/**/*.mjs"],
    languageOptions: { globals: { process: "readonly", console: "readonly", URL: "readonly" } },
  },
);
