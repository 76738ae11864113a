# The API's production image. Base: the official Node 22 slim image; any Debian-based image with node and npm in
# /usr/local/bin works (test/container.test.ts builds it on a local one: no registry is reachable there).
ARG NODE_IMAGE=docker.io/library/node:22-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Behind a TLS-inspecting proxy, pass its CA: `--secret id=npm_ca,src=<bundle.pem>` (never stored in a layer).
RUN --mount=type=secret,id=npm_ca \
  NODE_EXTRA_CA_CERTS="$([ -f /run/secrets/npm_ca ] && echo /run/secrets/npm_ca)" npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# The dev tools (local identity provider, Graph stand-in, token CLI) refuse to run in production: leave them out.
RUN npm run build && rm -rf dist/dev

FROM ${NODE_IMAGE}
# tini as PID 1 passes SIGTERM to Node and reaps zombies, so the graceful drain runs on `docker stop` and pod deletion.
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=npm_ca \
  NODE_EXTRA_CA_CERTS="$([ -f /run/secrets/npm_ca ] && echo /run/secrets/npm_ca)" \
  npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# A numeric user that owns nothing here: the code is read-only to the process (Kubernetes runAsNonRoot checks it).
USER 10001:10001
EXPOSE 4000
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/main.js"]
