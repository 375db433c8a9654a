# One image for every worker; docker-compose.yml and deploy/ pick the entry point per service.
FROM node:20-bookworm-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# postinstall: mplp's fix of kafkajs' read_committed filter (scripts/kafkajs).
COPY scripts/kafkajs scripts/kafkajs
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# The image's `node` user by number, so Kubernetes' runAsNonRoot can verify it (deploy/base).
USER 1000:1000
# Overridden per service in docker-compose.yml
CMD ["node", "dist/ingest/src/main.js"]
