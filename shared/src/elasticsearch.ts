import { readFileSync } from 'node:fs';
import { Client, ClientOptions } from '@elastic/elasticsearch';
import type { SharedConfig } from './settings';
import { ConfigError } from './errors';

type EsSettings = Pick<
  SharedConfig,
  'esNode' | 'esApiKey' | 'esUsername' | 'esPassword' | 'esCaFile' | 'esRejectUnauthorized' | 'esRequestTimeoutMs'
>;

/** The one way every process and test makes an Elasticsearch client. Retries are ours (shared/retry), not the client's. */
export function createElasticsearch(cfg: EsSettings, overrides: Partial<ClientOptions> = {}): Client {
  const opts: ClientOptions = {
    node: cfg.esNode,
    requestTimeout: cfg.esRequestTimeoutMs,
    maxRetries: 0,
    compression: false,
    ...overrides,
  };
  if (cfg.esApiKey) opts.auth = { apiKey: cfg.esApiKey };
  else if (cfg.esUsername) opts.auth = { username: cfg.esUsername, password: cfg.esPassword };
  if (cfg.esNode.startsWith('https:')) {
    opts.tls = { rejectUnauthorized: cfg.esRejectUnauthorized };
    if (cfg.esCaFile) {
      try {
        opts.tls.ca = readFileSync(cfg.esCaFile, 'utf8');
      } catch (err) {
        throw new ConfigError('MPLP_ES_CA_FILE', `cannot read ${cfg.esCaFile}: ${(err as Error).message}`);
      }
    }
  }
  return new Client(opts);
}
