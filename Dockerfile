# One image runs `kubegate operator`, `kubegate gateway` and `kubegate console` (its pages in dist/web).
FROM node:22-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY test ./test
COPY bench ./bench
COPY web ./web
COPY scripts/copy-web-assets.mjs ./scripts/
RUN npx tsc -p . && npx tsc -p web && node scripts/copy-web-assets.mjs && npm prune --omit=dev

FROM gcr.io/distroless/nodejs22-debian12:nonroot
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
COPY --from=build /src/dist/web ./dist/web
COPY config/admission ./config/admission
COPY schemas ./schemas
COPY scripts/testbin-versions.env ./scripts/
USER 65532:65532
ENTRYPOINT ["/nodejs/bin/node", "/app/dist/src/cli/main.js"]
