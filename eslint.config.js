import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { importBoundaryConfig } from './scripts/import-boundaries.ts';

export default tseslint.config(
  // crds/generated/: ajv's standalone JavaScript (npm run generate), checked by crds/validators.test.ts, not written by hand.
  { ignores: ['node_modules/**', '.cache/**', 'coverage/**', '**/*.js', 'crds/generated/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      complexity: ['error', 10],
      'max-depth': ['error', 3],
      '@typescript-eslint/explicit-function-return-type': ['error', { allowExpressions: true, allowTypedFunctionExpressions: true, allowHigherOrderFunctions: true }],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
    },
  },
  {
    // Tests use matchers with any-typed payloads from real servers; keep the guards that matter.
    files: ['**/*.test.ts', '**/testdata/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/explicit-function-return-type': 'off',
    },
  },
  {
    // Schema files are declarative TypeBox builders: their inferred types ARE the API types.
    files: ['crds/schema/**/*.ts'],
    rules: { '@typescript-eslint/explicit-function-return-type': 'off', '@typescript-eslint/explicit-module-boundary-types': 'off' },
  },
  // Production code imports no test code and no other component; core/ and crds/ no component
  // (scripts/import-boundaries.ts, tested by scripts/import-boundaries.test.ts).
  importBoundaryConfig,
);
