// noVNC ships no types; this declares the part vnc-adapter.ts uses. Its package "exports" only
// "./core/rfb.js", so the import is the bare package name.
declare module '@novnc/novnc' {
  export default class RFB extends EventTarget {
    constructor(
      target: HTMLElement,
      urlOrChannel: string | object,
      options?: { shared?: boolean; credentials?: { password?: string }; wsProtocols?: string[] },
    );
    scaleViewport: boolean;
    resizeSession: boolean;
    clipViewport: boolean;
    viewOnly: boolean;
    focusOnClick: boolean;
    background: string;
    disconnect(): void;
    sendCtrlAltDel(): void;
    /** Sends text as the client's clipboard (ClientCutText, or the extended clipboard when the server has it). */
    clipboardPasteFrom(text: string): void;
    /** One key event; both down and up when `down` is omitted. Ignored unless connected. */
    sendKey(keysym: number, code: string | null, down?: boolean): void;
    focus(options?: FocusOptions): void;
    blur(): void;
    toBlob(callback: (blob: Blob | null) => void, type?: string, quality?: number): void;
  }
}
