/** Small stroke icons (16 px, currentColor); always next to a text label or an aria-label. */
const S = {
  width: 16,
  height: 16,
  viewBox: '0 0 16 16',
  fill: 'none',
  stroke: 'currentColor',
  strokeWidth: 1.6,
  strokeLinecap: 'round' as const,
  strokeLinejoin: 'round' as const,
};

export const IconPlay = () => (
  <svg {...S}>
    <path d="M5 3.5v9l7-4.5z" fill="currentColor" stroke="none" />
  </svg>
);
export const IconPower = () => (
  <svg {...S}>
    <path d="M8 2v6" />
    <path d="M4.5 4.5a5 5 0 1 0 7 0" />
  </svg>
);
export const IconStop = () => (
  <svg {...S}>
    <rect x="4" y="4" width="8" height="8" rx="1.2" fill="currentColor" stroke="none" />
  </svg>
);
export const IconPause = () => (
  <svg {...S}>
    <path d="M5.5 3.5v9M10.5 3.5v9" strokeWidth="2.2" />
  </svg>
);
export const IconReboot = () => (
  <svg {...S}>
    <path d="M13 8a5 5 0 1 1-1.5-3.6" />
    <path d="M12 2v3h-3" />
  </svg>
);
export const IconTrash = () => (
  <svg {...S}>
    <path d="M3 4.5h10M6.5 4.5V3h3v1.5M4.5 4.5l.6 8.5h5.8l.6-8.5" />
  </svg>
);
export const IconPlus = () => (
  <svg {...S}>
    <path d="M8 3v10M3 8h10" />
  </svg>
);
export const IconHost = () => (
  <svg {...S}>
    <rect x="2.5" y="3" width="11" height="7.5" rx="1.2" />
    <path d="M5.5 13h5M8 10.5V13" />
  </svg>
);
/** Two hosts linked: the libvirt connections. */
export const IconConnections = () => (
  <svg {...S}>
    <rect x="1.5" y="2.5" width="6" height="4.5" rx="1" />
    <rect x="8.5" y="9" width="6" height="4.5" rx="1" />
    <path d="M4.5 7v3.5h4M11.5 9V5.5h-4" />
  </svg>
);
export const IconFit = () => (
  <svg {...S}>
    <path d="M2.5 6V2.5H6M10 2.5h3.5V6M13.5 10v3.5H10M6 13.5H2.5V10" />
  </svg>
);
export const IconFullscreen = () => (
  <svg {...S}>
    <path d="M2.5 5.5v-3h3M10.5 2.5h3v3M13.5 10.5v3h-3M5.5 13.5h-3v-3" />
  </svg>
);
export const IconCamera = () => (
  <svg {...S}>
    <path d="M2.5 5.5h2.5l1-1.5h4l1 1.5h2.5v7h-11z" />
    <circle cx="8" cy="9" r="2.2" />
  </svg>
);
export const IconKeyboard = () => (
  <svg {...S}>
    <rect x="1.5" y="4" width="13" height="8" rx="1.2" />
    <path d="M4 6.5h.01M6.5 6.5h.01M9 6.5h.01M11.5 6.5h.01M5 9.5h6" />
  </svg>
);
export const IconDisc = () => (
  <svg width="40" height="40" viewBox="0 0 40 40" fill="none" stroke="currentColor" strokeWidth="1.6">
    <circle cx="20" cy="20" r="15" />
    <circle cx="20" cy="20" r="4" />
    <path d="M20 5a15 15 0 0 1 13 7.5" strokeLinecap="round" opacity=".6" />
  </svg>
);
export const IconMonitor = () => (
  <svg
    width="40"
    height="40"
    viewBox="0 0 40 40"
    fill="none"
    stroke="currentColor"
    strokeWidth="1.6"
    strokeLinecap="round"
  >
    <rect x="5" y="7" width="30" height="20" rx="2.5" />
    <path d="M14 33h12M20 27v6" />
  </svg>
);
export const IconEject = () => (
  <svg {...S}>
    <path d="M8 3l5 5.5H3z" fill="currentColor" stroke="none" />
    <path d="M3.5 12.5h9" strokeWidth="2" />
  </svg>
);
export const IconUpload = () => (
  <svg
    width="40"
    height="40"
    viewBox="0 0 40 40"
    fill="none"
    stroke="currentColor"
    strokeWidth="1.8"
    strokeLinecap="round"
    strokeLinejoin="round"
  >
    <circle cx="20" cy="20" r="15" />
    <circle cx="20" cy="20" r="4" />
    <path d="M20 2v10M15.5 6.5L20 2l4.5 4.5" />
  </svg>
);
export const IconIso = () => (
  <svg {...S}>
    <circle cx="8" cy="8" r="5.8" />
    <circle cx="8" cy="8" r="1.6" />
  </svg>
);

/** A stack of discs: the ISO library. */
export const IconIsoLibrary = () => (
  <svg {...S}>
    <circle cx="9" cy="9" r="5.2" />
    <circle cx="9" cy="9" r="1.4" />
    <path d="M2.6 10.2A5.2 5.2 0 0 1 7.8 2.6" />
  </svg>
);
