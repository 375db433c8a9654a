import { runProcess } from '../../shared/src';
import { createNotifier } from './index';

runProcess({ name: 'notifier', create: async (env) => createNotifier(env) });
