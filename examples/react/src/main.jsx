import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { createClient } from '@authgate/client';
import { AuthProvider } from '@authgate/react';
import { App } from './App.jsx';

// authgate's origin: the page's meta tag, else VITE_AUTHGATE_URL at build (or dev) time, else
// this page's own origin (authgate behind the same host).
const meta = document.querySelector('meta[name="authgate-base-url"]');
const baseUrl = (meta && meta.content) || import.meta.env.VITE_AUTHGATE_URL || window.location.origin;
const client = createClient({ baseUrl });

createRoot(document.getElementById('root')).render(
  <StrictMode>
    <AuthProvider client={client}>
      <App />
    </AuthProvider>
  </StrictMode>,
);
