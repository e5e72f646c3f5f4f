# syntax=docker/dockerfile:1
# One image, three entry points (Node 24 runs the TypeScript directly: no build step):
#   operator  node /app/operator/src/main.ts
#   webhook   node /app/webhook/src/main.ts
#   sidecar   node /app/sidecar/src/main.ts   (fixed by docs/injection-contract.md)
#   CLI       node /app/cli/src/main.ts
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

FROM node:${NODE_VERSION}-bookworm-slim
LABEL org.opencontainers.image.title="guarita" \
      org.opencontainers.image.description="Guarita operator, admission webhook and enforcement sidecar" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production \
    NODE_OPTIONS="--disable-warning=ExperimentalWarning"
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY core ./core
COPY crds ./crds
COPY operator ./operator
COPY webhook ./webhook
COPY sidecar ./sidecar
COPY cli ./cli
USER 65532:65532
CMD ["node", "/app/cli/src/main.ts", "--help"]
