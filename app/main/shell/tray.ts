/** The tray icon; its menu comes from tray-menu.ts. */
import { Menu, nativeImage, Tray, type MenuItemConstructorOptions } from 'electron';
import type { VmSummary } from '../common/vm-types.js';
import { buildTrayMenu, type TrayAction, type TrayMenuItem } from './tray-menu.js';

export interface ShellTray {
  /** Rebuilds the menu; `busy` (e.g. shutdown progress) heads it and disables VM actions. */
  update(vms: readonly VmSummary[], busy?: string): void;
  destroy(): void;
}

/** `icon` is a PNG; on macOS a template image (black + alpha) that the menu bar recolours. */
/** `loginItem`: whether vmdesk starts at login (a checkbox in the menu); undefined: no such item here. */
export function createTray(
  icon: string,
  platform: NodeJS.Platform,
  onAction: (a: TrayAction) => void,
  loginItem: () => boolean | undefined = () => undefined,
): ShellTray {
  const image = nativeImage.createFromPath(icon);
  if (platform === 'darwin') image.setTemplateImage(true);
  const tray = new Tray(image);
  const toOptions = (items: TrayMenuItem[]): MenuItemConstructorOptions[] =>
    items.map(({ action, submenu, ...rest }) => ({
      ...rest,
      ...(submenu ? { submenu: toOptions(submenu) } : {}),
      ...(action ? { click: () => onAction(action) } : {}),
    }));
  return {
    update(vms, busy) {
      const on = loginItem();
      const m = buildTrayMenu(vms, {
        platform,
        ...(busy ? { busy } : {}),
        ...(on !== undefined ? { loginItem: on } : {}),
      });
      tray.setContextMenu(Menu.buildFromTemplate(toOptions(m.items)));
      tray.setToolTip(m.tooltip);
    },
    destroy: () => tray.destroy(),
  };
}
