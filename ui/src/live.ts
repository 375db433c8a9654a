import type { AlertChange, WindowRecord } from './api';

type Listener<T> = (record: T, receivedAt: number) => void;
const metricListeners = new Set<Listener<WindowRecord>>();
const alertListeners = new Set<Listener<AlertChange>>();
const resyncListeners = new Set<() => void>();

declare global {
  interface Window {
    /** Record reached the server → shown on screen, ms, per live metric shown (read by the browser tests). */
    mplpLiveLatencies: { seriesKey: string; windowEnd: string; ms: number }[];
  }
}
window.mplpLiveLatencies = [];

export const onMetric = (fn: Listener<WindowRecord>) => {
  metricListeners.add(fn);
  return () => metricListeners.delete(fn);
};
/** Called when the stream is live again after a break: what arrived meanwhile must be read again. */
export const onResync = (fn: () => void) => {
  resyncListeners.add(fn);
  return () => resyncListeners.delete(fn);
};
export const onAlert = (fn: Listener<AlertChange>) => {
  alertListeners.add(fn);
  return () => alertListeners.delete(fn);
};

/** Called by a view once it has put a live record on the page: measured at the next frame, when it is painted. */
export function shown(record: WindowRecord, receivedAt: number): void {
  requestAnimationFrame(() => {
    const list = window.mplpLiveLatencies;
    list.push({ seriesKey: record.seriesKey, windowEnd: record.windowEnd, ms: Date.now() - receivedAt });
    if (list.length > 10_000) list.splice(0, list.length - 10_000);
  });
}

/** One server-sent event stream for the whole page; EventSource reconnects by itself. */
export function connectLive(status: HTMLElement): void {
  const source = new EventSource('/api/ui/live');
  // On only once the server says its consumer is in its group: before that, new records would be missed.
  const set = (state: 'on' | 'off') => {
    status.className = `live ${state}`;
    status.title = state === 'on' ? 'live updates on' : 'live updates connecting';
  };
  let wasLive = false;
  let broken = false;
  source.onerror = () => {
    set('off');
    broken = wasLive;
  };
  source.addEventListener('status', ((e: MessageEvent) => {
    const live = JSON.parse(e.data).live === true;
    set(live ? 'on' : 'off');
    if (!live) {
      broken = wasLive;
      return;
    }
    wasLive = true;
    if (broken) {
      broken = false;
      for (const fn of resyncListeners) fn();
    }
  }) as EventListener);
  const dispatch =
    <T>(listeners: Set<Listener<T>>) =>
    (e: MessageEvent) => {
      const { receivedAt, record } = JSON.parse(e.data) as { receivedAt: number; record: T };
      for (const fn of listeners) fn(record, receivedAt);
    };
  source.addEventListener('metric', dispatch(metricListeners) as EventListener);
  source.addEventListener('alert', dispatch(alertListeners) as EventListener);
}
