// Accessibility by keyboard and screen reader: the navigation by Tab at 1366 px, dialogs that
// keep and give back the focus, and the live region for printer state changes (the suite
// and its reasons: e2e/lib/a11y-suite.mjs; named to run after the other files).

import { a11ySuite } from '../lib/a11y-suite.mjs';

a11ySuite('keyboard');
