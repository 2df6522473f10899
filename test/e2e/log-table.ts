/**
 * What overflows where in the Log view's table, measured in the page (pass it to page.evaluate):
 * whether the table scrolls sideways in its card, and each header or cell whose text runs out of
 * it or out of the card — text inside a box that clips it (the reply's ellipsis) counts by that
 * box — and, per row, what a test needs to check of the parts that may be cut short.
 */
export function measureLogTable() {
  const table = document.querySelector('table[aria-label="Attempts"]')!;
  const wrap = table.parentElement!;
  const card = wrap.getBoundingClientRect();
  const clipperOf = (el: Element, td: Element): Element | null => {
    for (let e: Element | null = el; e && e !== td; e = e.parentElement) if (getComputedStyle(e).overflowX !== 'visible') return e;
    return null;
  };
  const spills: string[] = [];
  const rows = [...table.querySelectorAll('tr')].map((tr, r) => {
    const cells = [...tr.querySelectorAll('td, th')];
    cells.forEach((td, c) => {
      const box = td.getBoundingClientRect();
      if (box.right > card.left + wrap.clientLeft + wrap.clientWidth + 0.5) spills.push(`row ${r} (0: the header) cell ${c}: cell past the card`);
      const walker = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
      for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        if (!n.textContent?.trim() || clipperOf(n.parentElement!, td)) continue;
        const range = document.createRange();
        range.selectNodeContents(n);
        for (const rect of range.getClientRects()) {
          if (rect.left < box.left - 0.5 || rect.right > box.right + 0.5) spills.push(`row ${r} (0: the header) cell ${c}: "${n.textContent.trim()}" runs out of its cell`);
        }
      }
      for (const el of td.querySelectorAll('*')) {
        if (clipperOf(el, td) !== el) continue;
        const rect = el.getBoundingClientRect();
        if (rect.left < box.left - 0.5 || rect.right > box.right + 0.5) spills.push(`row ${r} (0: the header) cell ${c}: a clipped box runs out of its cell`);
      }
    });
    if (tr.parentElement?.tagName !== 'TBODY') return null;
    const reply = cells[4]?.querySelector('.reply');
    const status = cells[4]?.querySelector('strong');
    const open = cells[1]?.querySelector('button');
    return {
      id: open?.textContent ?? null,
      idTitle: open?.getAttribute('title') ?? null,
      status: status?.textContent?.trim() ?? null,
      statusWhole: !!status && !clipperOf(status, cells[4]!),
      reply: reply?.textContent ?? null,
      replyTitle: reply?.getAttribute('title') ?? null,
      replyTruncated: !!reply && reply.scrollWidth > reply.clientWidth,
      replyEllipsis: !!reply && getComputedStyle(reply).textOverflow === 'ellipsis',
      time: (cells[0] as HTMLElement).innerText.replace(/\s+/g, ' ').trim(),
      datetime: cells[0]!.querySelector('time')?.getAttribute('datetime') ?? null,
    };
  });
  return { wrapScroll: wrap.scrollWidth, wrapClient: wrap.clientWidth, spills, rows: rows.filter((x) => x !== null) };
}

