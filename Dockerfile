# The gateway image used by docker-compose.yml.
FROM node:20-bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ffmpeg python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY proto/package.json proto/
COPY gateway/package.json gateway/
COPY device-sim/package.json device-sim/
COPY dashboard/package.json dashboard/
RUN npm ci --no-audit --no-fund
COPY . .
# clips/ and the shared folder exist in the image so volumes mounted there start owned by node.
RUN npm run build:dashboard && mkdir -p /var/lib/doorstep/clips /var/lib/doorstep-shared \
 && chown -R node:node /var/lib/doorstep /var/lib/doorstep-shared
EXPOSE 1883 8080 8883 8443
USER node
CMD ["node", "--max-semi-space-size=64", "--import", "tsx", "gateway/src/main.ts"]
