import { runProcess } from '../../shared/src';
import { createAggregator } from './index';

runProcess({ name: 'aggregator', create: async (env) => createAggregator(env) });
