// The instance tree as a graph: a box per instance (id, orchestration, status colour),
// parents left of their children, joined by elbow lines; a box opens its instance
// (click, or Enter when it has the focus).
const SVG = 'http://www.w3.org/2000/svg';
const svg = (tag, attributes = {}, text) => {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
};

const kMaxNodes = 200;
const BOX_WIDTH = 170, BOX_HEIGHT = 34, COLUMN = 200, ROW = 42;

// Preorder positions: depth gives the column, the order of leaves the row; a parent sits
// level with its first child.
function layout(root) {
  const nodes = [];
  let row = 0;
  const place = (node, depth, parent) => {
    if (nodes.length >= kMaxNodes) return;
    const placed = { node, depth, row, parent };
    nodes.push(placed);
    const children = node.children ?? [];
    children.forEach((child, i) => {
      if (i > 0) row += 1;
      place(child, depth + 1, placed);
    });
  };
  place(root, 0, null);
  return { nodes, rows: row + 1 };
}

export function renderTreeGraph(root, current, open) {
  const { nodes, rows } = layout(root);
  const depth = Math.max(...nodes.map((n) => n.depth));
  const chart = svg('svg', {
    width: (depth + 1) * COLUMN, height: rows * ROW, role: 'group', 'aria-label': `instance tree of ${nodes.length} instances`,
  });
  const x = (n) => n.depth * COLUMN + 2;
  const y = (n) => n.row * ROW + 4;
  for (const n of nodes) {
    if (!n.parent) continue;
    const fromX = x(n.parent) + BOX_WIDTH, fromY = y(n.parent) + BOX_HEIGHT / 2;
    const toX = x(n), toY = y(n) + BOX_HEIGHT / 2, midX = (fromX + toX) / 2;
    chart.append(svg('path', { d: `M${fromX},${fromY} H${midX} V${toY} H${toX}`, class: 'tree-edge' }));
  }
  for (const n of nodes) {
    const { instance, orchestration, status } = n.node;
    const group = svg('g', {
      class: `tree-node${instance === current ? ' current' : ''}`, tabindex: 0, role: 'link',
      'aria-label': `${instance}, ${orchestration}, ${status}`, 'data-testid': 'tree-node', 'data-instance': instance,
    });
    group.append(svg('rect', { x: x(n), y: y(n), width: BOX_WIDTH, height: BOX_HEIGHT, rx: 4, class: `tree-box status-box-${status}` }),
      svg('text', { x: x(n) + 6, y: y(n) + 14, class: 'tree-id' }, instance.length > 26 ? `${instance.slice(0, 25)}…` : instance),
      svg('text', { x: x(n) + 6, y: y(n) + 28, class: `tree-meta status-${status}` }, `${orchestration} · ${status}`),
      svg('title', {}, `${instance}\n${orchestration} · ${status}`));
    group.addEventListener('click', () => open(instance));
    group.addEventListener('keydown', (event) => { if (event.key === 'Enter') open(instance); });
    chart.append(group);
  }
  return chart;
}
