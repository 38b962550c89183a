// Accessibility at 1366 px: axe-core on every page in both themes, no sideways scrolling
// (the suite and its reasons: e2e/lib/a11y-suite.mjs; named to run after the other files).

import { a11ySuite } from '../lib/a11y-suite.mjs';

a11ySuite('pages-1366');
