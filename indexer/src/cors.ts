/**
 * CORS headers for a request from `origin`, when the query API lets that origin's pages read it
 * (MPLP_INDEXER_QUERY_CORS_ORIGINS: exact origins such as https://grafana.example:3000, or `*`);
 * undefined when CORS is off, the request has no Origin, or the origin is not listed. The
 * allowed origin is echoed (never `*`), so a page may also send the bearer token.
 */
export function corsHeaders(allowed: readonly string[], origin: string | undefined): Record<string, string> | undefined {
  if (!allowed.length || !origin) return undefined;
  if (!allowed.includes('*') && !allowed.includes(origin)) return undefined;
  return { 'access-control-allow-origin': origin, 'access-control-allow-credentials': 'true', vary: 'Origin' };
}
