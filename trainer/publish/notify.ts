/**
 * Tells API servers that a checkpoint was published (POST /v1/checkpoints/check), so they swap now
 * instead of at their next poll. Best effort: a server that cannot be reached still picks the
 * checkpoint up by polling, so failures are reported, never thrown.
 */
export interface NotifyResult {
  url: string;
  ok: boolean;
  /** The server's answer (outcome: swapped | unchanged | refused | ...) or why it could not be reached. */
  detail: string;
}

export async function notifyServers(urls: readonly string[], { apiKey, timeoutMs = 60_000 }: { apiKey?: string; timeoutMs?: number } = {}): Promise<NotifyResult[]> {
  return Promise.all(
    urls.map(async (base) => {
      const url = `${base.replace(/\/+$/, '')}/v1/checkpoints/check`;
      try {
        const response = await fetch(url, {
          method: 'POST',
          // Every POST to the API is JSON (it refuses other content types: see api/middleware/content-type).
          headers: { 'content-type': 'application/json', ...(apiKey && { authorization: `Bearer ${apiKey}` }) },
          body: '{}',
          signal: AbortSignal.timeout(timeoutMs),
        });
        const body = (await response.json().catch(() => ({}))) as { outcome?: string; version?: string; reason?: string; error?: { message?: string } };
        if (!response.ok) return { url, ok: false, detail: `HTTP ${response.status}: ${body.error?.message ?? 'no details'}` };
        return { url, ok: body.outcome !== 'refused' && body.outcome !== 'error', detail: [body.outcome, body.version, body.reason].filter(Boolean).join(' ') };
      } catch (error) {
        return { url, ok: false, detail: (error as Error).message };
      }
    }),
  );
}
