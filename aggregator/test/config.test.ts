import { ConfigError } from '../../shared/src';
import { createAggregator } from '../src';

describe('aggregator settings', () => {
  it('refuses a clock skew above the allowed lateness at start, naming both settings', () => {
    let err: unknown;
    try {
      createAggregator({ MPLP_AGGREGATOR_ALLOWED_LATENESS: '500ms' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toBe(
      'MPLP_AGGREGATOR_MAX_CLOCK_SKEW: 1000 ms must not exceed MPLP_AGGREGATOR_ALLOWED_LATENESS (500 ms)',
    );
  });
});
