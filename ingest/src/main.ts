import { runProcess } from '../../shared/src';
import { createIngest } from './index';

runProcess({ name: 'ingest', create: async (env) => createIngest(env) });
