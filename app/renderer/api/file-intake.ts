/**
 * How a file the user drops or picks becomes a path the driver can read. In Electron the file
 * is on the driver's machine: its path is used as it is (no copy). In a browser (`vmdesk web`)
 * it may be on another machine: it is uploaded into the ISO library first (`PUT /upload`).
 */
import type { VmdeskApi } from '../../main/common/api.js';
import type { IsoPlan } from '../store/store.js';
import { VmdeskError, type SerializedError } from '../../main/common/errors.js';

export interface UploadProgress {
  loaded: number;
  total: number;
}

/** The server's answer: the stored path and, since it inspected the file already, its plan. */
export interface UploadResult {
  path: string;
  plan?: IsoPlan;
}

export interface UploadHandle {
  /**
   * Rejects with a VmdeskError (code `cancelled` after cancel()); `details.discarded` when the
   * file arrived but is not an installer image, so the server deleted it.
   */
  done: Promise<UploadResult>;
  /** Aborts the transfer; the server deletes what it received. */
  cancel(): void;
}

export interface IsoUploader {
  uploadIso(file: File, onProgress: (p: UploadProgress) => void): UploadHandle;
}

export type FileIntake =
  | { kind: 'path'; pathFor(file: File): string; pick(): Promise<string | null> }
  | { kind: 'upload'; upload: IsoUploader['uploadIso'] };

function canUpload(api: VmdeskApi): api is VmdeskApi & IsoUploader {
  return typeof (api as Partial<IsoUploader>).uploadIso === 'function';
}

export function pickIntake(api: VmdeskApi): FileIntake | null {
  const shell = window.vmdeskShell;
  if (shell) return { kind: 'path', pathFor: (f) => shell.pathForFile(f), pick: () => shell.pickIso() };
  if (canUpload(api)) return { kind: 'upload', upload: (file, onProgress) => api.uploadIso(file, onProgress) };
  return null;
}

/** PUT `file` to `url` with XMLHttpRequest: fetch() reports no upload progress. */
export function xhrUpload(url: string, file: File, onProgress: (p: UploadProgress) => void): UploadHandle {
  const xhr = new XMLHttpRequest();
  const done = new Promise<UploadResult>((resolve, reject) => {
    xhr.upload.onprogress = (e) => onProgress({ loaded: e.loaded, total: e.lengthComputable ? e.total : file.size });
    xhr.onabort = () => reject(new VmdeskError('cancelled', 'The upload was cancelled.'));
    xhr.onerror = () =>
      reject(new VmdeskError('cancelled', 'The upload failed: the connection to vmdesk was lost. Try again.'));
    xhr.onload = () => {
      let body: { path?: unknown; plan?: IsoPlan; error?: SerializedError } = {};
      try {
        body = JSON.parse(xhr.responseText) as typeof body;
      } catch {
        /* reported below */
      }
      if (xhr.status === 200 && typeof body.path === 'string') resolve({ path: body.path, plan: body.plan });
      // 422: stored, then refused by the inspector, and deleted again by the server.
      else if (body.error)
        reject(
          VmdeskError.fromJSON(
            xhr.status === 422 ? { ...body.error, details: { ...body.error.details, discarded: true } } : body.error,
          ),
        );
      else reject(new VmdeskError('internal', `The upload failed (HTTP ${xhr.status}).`));
    };
  });
  xhr.open('PUT', url);
  xhr.setRequestHeader('Content-Type', 'application/octet-stream');
  xhr.send(file);
  return { done, cancel: () => xhr.abort() };
}
