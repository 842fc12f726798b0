import { counter, SourceFormatError } from './types.js';
/** The `Tcp:` CurrEstab column of /proc/net/snmp as the gauge `tcp-established`. */
export function parseNetSnmp(text, source = '/proc/net/snmp') {
  const tcpLines = text.split('\n').filter((line) => line.startsWith('Tcp:'));
  const [header, values] = tcpLines.map((line) => line.trim().split(/\s+/));
  if (!header || !values) throw new SourceFormatError(source, 'no Tcp: header and value lines');
  const column = header.indexOf('CurrEstab');
  if (column < 0) throw new SourceFormatError(source, 'no CurrEstab column in the Tcp: header');
  return [
    { name: 'tcp-established', type: 'gauge', value: counter(values[column], source, 'Tcp CurrEstab') },
  ];
}
export const tcpCollector = {
  name: 'tcp_established',
  collect: (files) => ({ metrics: parseNetSnmp(files.readText('/proc/net/snmp')), meta: [] }),
};
//# sourceMappingURL=tcp.js.map
