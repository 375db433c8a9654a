import './style.css';
import { AlertState, alertsView, renderBanner } from './alerts';
import { errorBox } from './dom';
import { connectLive } from './live';
import { mapView } from './map';
import { overviewView } from './overview';
import { searchView } from './search';
import { traceView } from './trace';

const view = document.getElementById('view')!;
const banner = document.getElementById('alert-banner')!;
const alerts = new AlertState();
let leave: () => void = () => undefined;
let generation = 0;

/** Hash routes: #/ overview, #/search?…, #/trace/<id>, #/alerts, #/map?lookback=. */
async function route(): Promise<void> {
  const gen = ++generation;
  leave();
  leave = () => undefined;
  const [path, query] = location.hash.replace(/^#/, '').split('?');
  const params = new URLSearchParams(query ?? '');
  const page = path.split('/')[1] || 'overview';
  for (const a of document.querySelectorAll<HTMLAnchorElement>('nav a')) a.classList.toggle('active', a.dataset.nav === page);
  document.body.dataset.page = page;
  try {
    let off: () => void;
    switch (page) {
      case 'search':
        off = await searchView(view, params);
        break;
      case 'trace':
        off = await traceView(view, decodeURIComponent(path.split('/')[2] ?? ''));
        break;
      case 'alerts':
        off = alertsView(view, alerts);
        break;
      case 'map':
        off = await mapView(view, params);
        break;
      default:
        off = await overviewView(view);
    }
    if (gen === generation) leave = off;
    else off();
  } catch (err) {
    view.replaceChildren(errorBox(err));
  }
  document.body.dataset.ready = page;
}

document.getElementById('trace-id-form')!.addEventListener('submit', (e) => {
  e.preventDefault();
  const box = document.getElementById('trace-id-box') as HTMLInputElement;
  const id = box.value.trim().toLowerCase();
  if (id) location.hash = `#/trace/${id}`;
});

connectLive(document.getElementById('live-status')!);
alerts.subscribe(() => renderBanner(banner, alerts));
alerts.load().catch((err) => {
  banner.hidden = false;
  banner.replaceChildren(errorBox(err));
});
window.addEventListener('hashchange', () => {
  void route();
});
void route();
