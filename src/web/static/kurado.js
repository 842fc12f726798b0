// Kurado web UI: a little vanilla JS on top of server-rendered pages. Everything works without
// it except live filtering, range selection, status refresh and copy-to-clipboard.

(() => {
  const $ = (selector, root = document) => root.querySelector(selector);
  const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

  /* ---------- rankings (fleet and service pages) ---------- */

  // The ranking is redrawn from /api/top once a minute, with fresh sparklines.
  function setupRanking() {
    const section = $('section.ranking');
    if (!section) return;
    const refresh = async () => {
      try {
        const response = await fetch(section.dataset.api, { headers: { accept: 'application/json' } });
        if (!response.ok) return;
        const ranking = await response.json();
        const body = $('tbody', section);
        body.replaceChildren(
          ...ranking.top.map((r) => {
            const row = document.createElement('tr');
            row.className = 'ranked';
            const cell = (text, className) => {
              const td = document.createElement('td');
              if (className) td.className = className;
              if (text !== undefined) td.textContent = text;
              row.append(td);
              return td;
            };
            cell(String(r.rank));
            const name = cell(undefined, 'name');
            const link = document.createElement('a');
            link.href = r.url;
            link.textContent = r.hostname;
            name.append(link);
            cell(r.address, 'addr');
            cell(r.text, 'value');
            const spark = cell();
            if (r.sparkline) {
              const img = document.createElement('img');
              img.className = 'sparkline';
              img.alt = '';
              img.width = 120;
              img.height = 40;
              img.src = `${r.sparkline}&t=${ranking.at}`;
              const a = document.createElement('a');
              a.href = r.url;
              a.append(img);
              spark.append(a);
            }
            return row;
          }),
        );
        $('.ranking-missing', section).textContent = String(ranking.missing);
        section.dataset.refreshedAt = String(ranking.at);
      } catch {
        // The next minute tries again.
      }
    };
    setInterval(refresh, 60_000);
  }

  /* ---------- fleet page ---------- */

  function setupFleet() {
    const search = $('#search');
    if (!search) return;
    const rows = $$('tr.host');
    // Search text of a row: its cells (address, hostname, comments, role) plus service and label.
    for (const section of $$('section.service')) {
      const service = section.dataset.service;
      for (const group of $$('.label-group', section)) {
        const label = group.querySelector('h3 .label-name')?.textContent ?? '';
        for (const row of $$('tr.host', group)) {
          row.searchText = `${row.textContent} ${service} ${label}`.toLowerCase();
          row.address = row.querySelector('input.pick').value;
        }
      }
    }
    const groups = $$('.label-group');
    const services = $$('section.service');
    const matchCount = $('#match-count');
    const noMatch = $('#no-match');
    const compare = $('#compare-selected');
    const uncheck = $('#uncheck-all');
    const openNew = $('#open-new');
    const maxCompare = Number(compare.dataset.max) || 500;

    // Collapsed services stay collapsed across visits (localStorage); a search looks inside them.
    const collapsedKey = 'kurado.collapsed';
    const collapsed = new Set(JSON.parse(localStorage.getItem(collapsedKey) || '[]'));
    function setCollapsed(section, value) {
      section.classList.toggle('collapsed', value);
      section.querySelector('button.toggle').setAttribute('aria-expanded', String(!value));
    }
    for (const section of services) {
      if (collapsed.has(section.dataset.service)) setCollapsed(section, true);
      section.querySelector('button.toggle').addEventListener('click', () => {
        const value = !section.classList.contains('collapsed');
        setCollapsed(section, value);
        if (value) collapsed.add(section.dataset.service);
        else collapsed.delete(section.dataset.service);
        localStorage.setItem(collapsedKey, JSON.stringify([...collapsed]));
      });
    }

    function filter() {
      const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
      document.body.classList.toggle('searching', words.length > 0);
      let shown = 0;
      for (const row of rows) {
        const text = row.searchText;
        const visible = words.every((word) => text.includes(word));
        row.hidden = !visible;
        if (visible) shown++;
      }
      for (const group of groups) group.hidden = !group.querySelector('tr.host:not([hidden])');
      for (const service of services) service.hidden = !service.querySelector('tr.host:not([hidden])');
      matchCount.textContent = words.length ? `${shown} of ${rows.length} hosts` : '';
      noMatch.hidden = shown > 0 || (rows.length === 0 && words.length === 0);
      const url = new URL(location.href);
      if (search.value) url.searchParams.set('q', search.value);
      else url.searchParams.delete('q');
      history.replaceState(null, '', url);
    }
    search.addEventListener('input', filter);
    if (search.value) filter();

    // Checkboxes: a shift-click sets every visible box between the last click and this one.
    let last = null;
    const shown = (box) => (box.checkVisibility ? box.checkVisibility() : box.offsetParent !== null);
    const boxes = () => $$('input.pick').filter(shown);
    function selected() {
      return $$('input.pick:checked').map((box) => box.value);
    }
    function updateButtons() {
      const count = selected().length;
      compare.disabled = count < 2;
      compare.textContent = count ? `Compare selected (${count})` : 'Compare selected';
      compare.title = count > maxCompare ? `only the first ${maxCompare} are compared` : '';
      uncheck.disabled = count === 0;
      for (const box of $$('input.pick')) box.closest('tr').classList.toggle('picked', box.checked);
    }
    document.addEventListener('click', (event) => {
      const box = event.target;
      if (!(box instanceof HTMLInputElement) || !box.classList.contains('pick')) return;
      if (event.shiftKey && last && last !== box) {
        const visible = boxes();
        const a = visible.indexOf(last);
        const b = visible.indexOf(box);
        if (a >= 0 && b >= 0) {
          for (const other of visible.slice(Math.min(a, b), Math.max(a, b) + 1)) other.checked = box.checked;
        }
      }
      last = box;
      updateButtons();
    });
    uncheck.addEventListener('click', () => {
      for (const box of $$('input.pick:checked')) box.checked = false;
      last = null;
      updateButtons();
    });
    openNew.checked = localStorage.getItem('kurado.openNew') === '1';
    openNew.addEventListener('change', () =>
      localStorage.setItem('kurado.openNew', openNew.checked ? '1' : '0'),
    );
    compare.addEventListener('click', () => {
      const params = new URLSearchParams();
      for (const address of selected().slice(0, maxCompare)) params.append('host', address);
      const url = `/compare?${params}`;
      if (openNew.checked) window.open(url, '_blank', 'noopener');
      else location.href = url;
    });
    updateButtons();

    // Status icons: refreshed once a minute from /api/status.
    const labels = { ok: 'OK', warn: 'Warning', critical: 'Critical', unknown: 'Unknown (never seen)' };
    const byAddress = new Map(rows.map((row) => [row.address, row]));
    async function refresh() {
      try {
        // Only the hosts on this page, as many per request as the server takes.
        const statuses = {};
        const reasons = {};
        const addresses = [...byAddress.keys()];
        for (let start = 0; start < addresses.length; start += maxCompare) {
          const response = await fetch('/api/status', {
            method: 'POST',
            headers: { accept: 'application/json', 'content-type': 'application/json' },
            body: JSON.stringify({ hosts: addresses.slice(start, start + maxCompare) }),
          });
          if (!response.ok) return;
          const page = await response.json();
          Object.assign(statuses, page.statuses);
          Object.assign(reasons, page.reasons);
        }
        const body = { statuses, reasons };
        for (const [address, status] of Object.entries(body.statuses)) {
          const row = byAddress.get(address);
          if (!row) continue;
          row.classList.remove('row-ok', 'row-warn', 'row-critical', 'row-unknown');
          row.classList.add(`row-${status}`);
          const icon = row.querySelector('.status');
          icon.className = `status status-${status}`;
          const reason = body.reasons?.[address];
          icon.title = reason ? `${labels[status] || status}: ${reason}` : labels[status] || status;
        }
        $('#status-updated').textContent = ` (last ${new Date().toLocaleTimeString()})`;
      } catch {
        // Offline for a moment: the next tick tries again.
      }
    }
    setInterval(refresh, 60_000);
  }

  /* ---------- host and compare pages ---------- */

  const pad = (n) => String(n).padStart(2, '0');
  const toInput = (date) =>
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;

  function setupRange() {
    const form = $('#custom-range');
    if (!form) return;
    const from = $('#range-from');
    const to = $('#range-to');
    // The server filled the inputs in its own time zone; show the browser's instead.
    for (const input of [from, to]) {
      const epoch = Number(input.dataset.epoch);
      if (epoch) input.value = toInput(new Date(epoch * 1000));
    }
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const start = new Date(from.value).getTime() / 1000;
      const end = new Date(to.value).getTime() / 1000;
      if (!Number.isFinite(start) || !Number.isFinite(end) || start >= end) {
        to.setCustomValidity('"to" must be after "from"');
        to.reportValidity();
        return;
      }
      to.setCustomValidity('');
      const params = new URLSearchParams();
      for (const hidden of $$('input[type=hidden]', form)) params.append(hidden.name, hidden.value);
      params.set('from', String(Math.floor(start)));
      params.set('to', String(Math.floor(end)));
      location.href = `${form.getAttribute('action')}?${params}${location.hash}`;
    });
    to.addEventListener('input', () => to.setCustomValidity(''));
  }

  function setupCopy() {
    for (const button of $$('button.copy-link')) {
      button.addEventListener('click', async () => {
        const suffix = button.dataset.copySuffix;
        const text = suffix ? `${location.href} ${suffix}` : location.href;
        let ok = false;
        try {
          await navigator.clipboard.writeText(text);
          ok = true;
        } catch {
          const area = document.createElement('textarea');
          area.value = text;
          document.body.append(area);
          area.select();
          ok = document.execCommand('copy');
          area.remove();
        }
        const done = button.nextElementSibling;
        if (done?.classList.contains('copy-done')) {
          done.textContent = ok ? 'copied' : text;
          done.dataset.copied = text;
          done.hidden = false;
          setTimeout(() => {
            if (ok) done.hidden = true;
          }, 3000);
        }
      });
    }
  }

  function start() {
    setupFleet();
    setupRanking();
    setupRange();
    setupCopy();
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
