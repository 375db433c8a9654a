import { runProcess } from '../../shared/src';
import { createIndexer } from './index';

runProcess({ name: 'indexer', create: async (env) => createIndexer(env) });
