# One image runs both `kubegate operator` and `kubegate gateway`.
FROM node:22-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY test ./test
COPY bench ./bench
RUN npx tsc -p . && npm prune --omit=dev

FROM gcr.io/distroless/nodejs22-debian12:nonroot
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
COPY config/admission ./config/admission
COPY schemas ./schemas
COPY scripts/testbin-versions.env ./scripts/
USER 65532:65532
ENTRYPOINT ["/nodejs/bin/node", "/app/dist/src/cli/main.js"]
