import { runProcess } from '../../shared/src';
import { createReceiver } from './index';

runProcess({ name: 'receiver', create: async (env) => createReceiver(env) });
