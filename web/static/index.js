// Landing page: pick a room and a display name, then go to /room/ROOM?name=NAME&autojoin=1.

const form = /** @type {HTMLFormElement} */ (document.getElementById('join-room-form'));
const room = /** @type {HTMLInputElement} */ (document.getElementById('room'));
const name = /** @type {HTMLInputElement} */ (document.getElementById('name'));

try {
  name.value = localStorage.getItem('mcu.name') || '';
} catch { /* storage may be disabled */ }
room.focus();

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const r = room.value.trim();
  const n = name.value.trim();
  if (!r || !n) return;
  try {
    localStorage.setItem('mcu.name', n);
  } catch { /* ignore */ }
  const q = new URLSearchParams({ name: n, autojoin: '1' });
  location.assign(`/room/${encodeURIComponent(r)}?${q}`);
});
