/**
 * The look every graph shares (upstream Kurado's: 8 pt fonts, border 1, these colours), in one place: sizes, fonts, colours and
 * the fixed rrdtool options. Templates only add their own series.
 */
export const GRAPH_STYLE = {
  /** Size limits of every graph, whoever asks (web query, API, `kurado graph render`). */
  defaultWidth: 500,
  defaultHeight: 100,
  minWidth: 100,
  maxWidth: 3000,
  minHeight: 40,
  maxHeight: 1500,
  /** Lower limit 0; upper limit 2 unless the data goes higher (not --rigid). */
  lowerLimit: '0',
  upperLimit: '2',
  border: '1',
  fontRenderMode: 'light',
  fonts: ['TITLE:8:', 'AXIS:8:', 'LEGEND:8:'],
  colors: {
    BACK: 'f3f3f3',
    CANVAS: 'ffffff',
    GRID: '8f8f8f',
    MGRID: '666666',
    FONT: '222222',
    FRAME: '222222',
    AXIS: '111111',
    SHADEA: 'dddddd',
    SHADEB: 'dddddd',
    ARROW: 'f89407',
  } as Record<string, string>,
  /** Series colours of automatic graphs (plugins without a template). */
  autoColor: '0000C0',
} as const;

/** The rrdtool options of the common style (no size, range or title). */
export function styleArguments(): string[] {
  const args = [
    '--imgformat',
    'PNG',
    '--lower-limit',
    GRAPH_STYLE.lowerLimit,
    '--upper-limit',
    GRAPH_STYLE.upperLimit,
    '--disable-rrdtool-tag',
    '--border',
    GRAPH_STYLE.border,
    '--font-render-mode',
    GRAPH_STYLE.fontRenderMode,
  ];
  for (const font of GRAPH_STYLE.fonts) args.push('--font', font);
  for (const [name, value] of Object.entries(GRAPH_STYLE.colors)) args.push('--color', `${name}#${value}`);
  return args;
}
