# syntax=docker/dockerfile:1
# One image, three entry points, running the JavaScript tsc emits (tsconfig.build.json). Node 24
# could run the .ts sources directly, but type stripping costs every injected sidecar ~30 MB of
# memory and ~100 ms of start (docs/benchmarks.md), so the image carries the build's output:
#   operator  node /app/operator/src/main.js
#   webhook   node /app/webhook/src/main.js
#   sidecar   node /app/sidecar/src/main.js   (fixed by docs/injection-contract.md)
#   CLI       node /app/cli/src/main.js
# Non-root (65532), nothing written outside mounted volumes: runs with readOnlyRootFilesystem.
# Built and exercised by e2e/kind/run.sh (.github/workflows/kind-e2e.yaml).

ARG NODE_VERSION=24

# Production dependencies. The full image has python3, make and g++ for native addons (re2)
# whose prebuilt binary cannot be fetched.
FROM node:${NODE_VERSION}-bookworm AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error \
 && npm cache clean --force

# The JavaScript: tsc from the locked dev dependencies (install scripts skipped: no native build is
# needed to type-check and emit), from the four entry points and what they import.
FROM node:${NODE_VERSION}-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
COPY tsconfig.json tsconfig.build.json ./
COPY core ./core
COPY crds ./crds
COPY operator ./operator
COPY webhook ./webhook
COPY sidecar ./sidecar
COPY cli ./cli
RUN node node_modules/typescript/bin/tsc -p tsconfig.build.json && rm dist/.tsbuildinfo

FROM node:${NODE_VERSION}-bookworm-slim
LABEL org.opencontainers.image.title="guarita" \
      org.opencontainers.image.description="Guarita operator, admission webhook and enforcement sidecar" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production \
    NODE_OPTIONS="--disable-warning=ExperimentalWarning"
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
# The license travels with the binaries it covers (Apache-2.0 §4(a)).
COPY LICENSE package.json ./
COPY --from=build /app/dist/ ./
USER 65532:65532
CMD ["node", "/app/cli/src/main.js", "--help"]
