// Jest runs our TypeScript as native ES modules: @kubernetes/client-node and jose are ESM-only,
// so the CommonJS path ts-jest defaults to cannot load them. @swc/jest strips
// types without a TypeScript compiler (TS 7 has no JS API; `tsc` 5.9 still type-checks separately).
const transform = {
  '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2024' }, module: { type: 'es6' } }],
};
const common = {
  extensionsToTreatAsEsm: ['.ts'],
  transform,
  testEnvironment: 'node',
  modulePathIgnorePatterns: ['<rootDir>/.cache/'],
};

export default {
  // Jest reads testTimeout only at the top level; integration tests start real servers.
  testTimeout: 120000,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/**/*.test.ts'], testPathIgnorePatterns: ['\\.int\\.test\\.ts$', '/node_modules/', '/.cache/'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/**/*.int.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', '/.cache/'],
      globalSetup: '<rootDir>/e2e/harness/jest-global-setup.ts',
      globalTeardown: '<rootDir>/e2e/harness/jest-global-teardown.ts',
    },
  ],
};
