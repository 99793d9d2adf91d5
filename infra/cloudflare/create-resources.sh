#!/usr/bin/env bash
# Creates the Cloudflare resources one wrangler environment binds (wrangler.toml, [env.<name>]): the R2
# bucket, the trajectory queue with its dead-letter queue, and the trainer's HTTP pull consumer on it
# (wrangler's config file can only declare Worker consumers). Run once per environment, logged in
# (`npx wrangler login`, or CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID set).
#   infra/cloudflare/create-resources.sh dev|staging|production [--dry-run]
# --dry-run prints the commands instead of running them.
set -euo pipefail
usage="usage: $0 dev|staging|production [--dry-run]"
env="${1:?$usage}"
case "$env" in
  dev | staging | production) ;;
  *) echo "unknown environment \"$env\": dev, staging or production (the [env.*] tables of wrangler.toml)" >&2; exit 2 ;;
esac
dry_run=false
case "${2:-}" in
  "") ;;
  --dry-run) dry_run=true ;;
  *) echo "$usage" >&2; exit 2 ;;
esac
run() {
  if $dry_run; then echo "$*"; else echo "+ $*" >&2; "$@"; fi
}

bucket="cir-$env"
queue="cir-trajectories-$env"
dead_letters="$queue-dlq"
# 14 days of retention (the paid plan's maximum; the free plan allows at most 86400 s): a trainer that is
# down for a while loses nothing.
retention_s=1209600

run npx wrangler r2 bucket create "$bucket"
run npx wrangler queues create "$dead_letters" --message-retention-period-secs "$retention_s"
run npx wrangler queues create "$queue" --message-retention-period-secs "$retention_s"
# The trainer leases messages for 300 s and sets one aside itself after 5 deliveries (trainer/consumer);
# after 10 Cloudflare moves it to the dead-letter queue (a trainer that kept dying while holding it).
run npx wrangler queues consumer http add "$queue" \
  --visibility-timeout-secs 300 --message-retries 10 --dead-letter-queue "$dead_letters"
