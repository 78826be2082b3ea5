import '@xterm/xterm/css/xterm.css';
import './app.css';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { pickApi } from './api/index.js';
import { setApi, setIntake } from './api/current.js';
import { pickIntake } from './api/file-intake.js';
import { App } from './App.js';
import { initConsoleSessions } from './features/console/sessions.js';
import { connectStore } from './store/actions.js';

const api = pickApi();
setApi(api);
setIntake(pickIntake(api));
connectStore(api);
initConsoleSessions(api);

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root');
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
