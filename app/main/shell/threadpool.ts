/**
 * libvirt's event loop keeps one of libuv's worker threads for as long as a libvirt host is
 * connected, and each libvirt call holds another while it waits for its host: more than the 4
 * threads libuv starts with, so file and DNS work never waits behind a slow host. libuv reads
 * this when its pool is first used; main.ts imports this module first.
 */
process.env['UV_THREADPOOL_SIZE'] ??= '16';
