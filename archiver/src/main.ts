import { runProcess } from '../../shared/src';
import { createArchiver } from './index';

runProcess({ name: 'archiver', create: async (env) => createArchiver(env) });
