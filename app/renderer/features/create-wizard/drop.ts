/** What a drag or a drop carries, and which file of it the wizard takes. */

/** A drag that carries files (not text or a link): the overlay shows for these only. */
export function carriesFiles(types: readonly string[] | DOMStringList | undefined): boolean {
  if (!types) return false;
  return Array.from(types as ArrayLike<string>).includes('Files');
}

const IMAGE_NAME = /\.(iso|img)$/i;

/**
 * The file to create a VM from: the one .iso/.img among those dropped (or the only file, so the
 * inspector can say what it is instead). Several images or none at all are explained.
 */
export function pickDroppedFile<F extends { name: string }>(files: readonly F[]): { file: F } | { problem: string } {
  if (files.length === 0)
    return { problem: 'Nothing to use was dropped. Drop an installer image (.iso) from your files.' };
  const images = files.filter((f) => IMAGE_NAME.test(f.name));
  if (images.length === 1) return { file: images[0]! };
  if (images.length > 1)
    return { problem: `${images.length} images were dropped. Drop one installer image at a time.` };
  if (files.length === 1) return { file: files[0]! };
  return { problem: 'None of the dropped files is an installer image (.iso or .img).' };
}
