// A minimal sliced Bambu project (.gcode.3mf) for the browser tests, built
// in memory: a tiny ZIP writer (deflate from node's zlib, CRC-32 here) and the
// members a slicer's "export plate sliced file" writes, with the structure of
// docs/PRINTFILE.md / shared/reference/farm.md §1 (no real slicer file copied).

import { deflateRawSync } from 'node:zlib';

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * A ZIP archive of `[name, content]` members (strings or Buffers), each
 * deflated. Plain ZIP (no ZIP64, no data descriptors), fixed 1980 timestamps.
 */
export function zip(entries) {
  const locals = [];
  const centrals = [];
  let offset = 0;
  for (const [name, content] of entries) {
    const data = Buffer.isBuffer(content) ? content : Buffer.from(content, 'utf8');
    const packed = deflateRawSync(data);
    const fileName = Buffer.from(name, 'utf8');
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(8, 8); // deflate
    local.writeUInt16LE(0, 10); // time
    local.writeUInt16LE(0x21, 12); // date: 1980-01-01
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(packed.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(fileName.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4); // version made by
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(8, 10);
    central.writeUInt16LE(0, 12);
    central.writeUInt16LE(0x21, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(packed.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(fileName.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, fileName, packed);
    centrals.push(central, fileName);
    offset += local.length + fileName.length + packed.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/** A 1×1 PNG (valid, decodable): the plate thumbnail. */
export const PNG_1x1 = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg==',
  'base64',
);

/**
 * A one-plate sliced project for a P1S: `[Content_Types].xml`, `_rels/.rels`,
 * `3D/3dmodel.model`, `Metadata/slice_info.config` (prediction, weight, one
 * PLA filament), `Metadata/plate_1.gcode` (+ `.md5`) and `Metadata/plate_1.png`.
 * `title` names the object; `seconds` is the predicted print time.
 */
export function slicedProject({ title = 'e2e part', seconds = 600, grams = 4.2, colour = '#2850E0' } = {}) {
  const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
  const gcode =
    '; HEADER_BLOCK_START\n' +
    '; BambuStudio 02.00.00.00\n' +
    `; model printing time: ${Math.floor(seconds / 60)}m 0s; total estimated time: ${Math.floor(seconds / 60)}m 0s\n` +
    '; total layer number: 20\n' +
    `; total filament weight [g] : ${grams}\n` +
    '; HEADER_BLOCK_END\n\n' +
    '; CONFIG_BLOCK_START\n' +
    '; printer_model = Bambu Lab P1S\n' +
    `; filament_colour = ${colour}\n` +
    '; filament_type = PLA\n' +
    '; CONFIG_BLOCK_END\n\n' +
    'M73 P0 R10\nG28\nG1 X10 Y10 Z0.2 E1.0\n';
  const sliceInfo =
    '<?xml version="1.0" encoding="UTF-8"?>\n<config>\n' +
    '  <header><header_item key="X-BBL-Client-Type" value="slicer"/></header>\n' +
    '  <plate>\n' +
    '    <metadata key="index" value="1"/>\n' +
    '    <metadata key="printer_model_id" value="C12"/>\n' +
    '    <metadata key="nozzle_diameters" value="0.4"/>\n' +
    `    <metadata key="prediction" value="${seconds}"/>\n` +
    `    <metadata key="weight" value="${grams}"/>\n` +
    `    <object identify_id="100" name="${esc(title)}" skipped="false"/>\n` +
    `    <filament id="1" tray_info_idx="GFA00" type="PLA" color="${colour}" used_m="1.40" used_g="${grams}"/>\n` +
    '  </plate>\n</config>\n';
  const model =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    '<model unit="millimeter" xml:lang="en-US" xmlns="http://schemas.microsoft.com/3dmanufacturing/core/2015/02">\n' +
    `  <metadata name="Title">${esc(title)}</metadata>\n` +
    '  <resources>\n' +
    `    <object id="1" name="${esc(title)}" type="model"><mesh>` +
    '<vertices><vertex x="0" y="0" z="0"/><vertex x="10" y="0" z="0"/><vertex x="0" y="10" z="0"/></vertices>' +
    '<triangles><triangle v1="0" v2="1" v3="2"/></triangles></mesh></object>\n' +
    '  </resources>\n  <build><item objectid="1"/></build>\n</model>\n';
  const contentTypes =
    '<?xml version="1.0" encoding="UTF-8"?>\n<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>' +
    '<Default Extension="model" ContentType="application/vnd.ms-package.3dmanufacturing-3dmodel+xml"/>' +
    '<Default Extension="png" ContentType="image/png"/><Default Extension="gcode" ContentType="text/x.gcode"/></Types>';
  const rels =
    '<?xml version="1.0" encoding="UTF-8"?>\n<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">' +
    '<Relationship Target="/3D/3dmodel.model" Id="rel-1" Type="http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"/></Relationships>';
  return zip([
    ['[Content_Types].xml', contentTypes],
    ['_rels/.rels', rels],
    ['3D/3dmodel.model', model],
    ['Metadata/slice_info.config', sliceInfo],
    ['Metadata/plate_1.gcode', gcode],
    ['Metadata/plate_1.png', PNG_1x1],
  ]);
}
