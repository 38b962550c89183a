// A real, deterministic `.gcode.3mf` for the browser tests, built here from the documented
// structure (docs/PRINTFILE.md, shared/reference/farm.md §1.1–1.4): a ZIP (Deflate, no data
// descriptors) with the 3MF core model, `Metadata/project_settings.config`,
// `Metadata/slice_info.config` (two plates sliced for a P1S: prediction, weight, filaments,
// objects), `Metadata/plate_N.gcode` and a decodable `Metadata/plate_N.png` per plate.
// Same input → same bytes: no timestamps (DOS date 1980-01-01), a seeded filler.

import { deflateSync } from 'node:zlib';

import { crc32, zip } from './zip.mjs';

function chunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** A `size`×`size` RGB PNG: a coloured square on a light plate. */
export function png(size, [r, g, b]) {
  const rows = [];
  for (let y = 0; y < size; y++) {
    const row = Buffer.alloc(1 + size * 3);
    for (let x = 0; x < size; x++) {
      const inside = x > size / 4 && x < (size * 3) / 4 && y > size / 4 && y < (size * 3) / 4;
      row.set(inside ? [r, g, b] : [228, 230, 235], 1 + x * 3);
    }
    rows.push(row);
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const MODEL = `<?xml version="1.0" encoding="UTF-8"?>
<model unit="millimeter" xml:lang="en-US" xmlns="http://schemas.microsoft.com/3dmanufacturing/core/2015/02">
  <metadata name="Title">E2E bracket set</metadata>
  <resources>
    <object id="2" name="Bracket" type="model"><mesh>
      <vertices><vertex x="0" y="0" z="0"/><vertex x="10" y="0" z="0"/><vertex x="0" y="10" z="0"/></vertices>
      <triangles><triangle v1="0" v2="1" v3="2"/></triangles>
    </mesh></object>
    <object id="3" name="Clip" type="model"><mesh>
      <vertices><vertex x="0" y="0" z="0"/><vertex x="5" y="0" z="0"/><vertex x="0" y="5" z="0"/></vertices>
      <triangles><triangle v1="0" v2="1" v3="2"/></triangles>
    </mesh></object>
  </resources>
  <build><item objectid="2"/><item objectid="3"/></build>
</model>`;

const SLICE_INFO = `<?xml version="1.0" encoding="UTF-8"?>
<config>
  <header>
    <header_item key="X-BBL-Client-Type" value="slicer"/>
    <header_item key="X-BBL-Client-Version" value="02.01.01.52"/>
  </header>
  <plate>
    <metadata key="index" value="1"/>
    <metadata key="printer_model_id" value="C12"/>
    <metadata key="nozzle_diameters" value="0.4"/>
    <metadata key="prediction" value="5100"/>
    <metadata key="weight" value="12.34"/>
    <object identify_id="139" name="Bracket" skipped="false" />
    <filament id="1" tray_info_idx="GFA00" type="PLA" color="#FF8000" used_m="3.21" used_g="9.50"/>
    <filament id="4" tray_info_idx="GFG99" type="PETG" color="#1F6FEB" used_m="0.90" used_g="2.84"/>
  </plate>
  <plate>
    <metadata key="index" value="2"/>
    <metadata key="printer_model_id" value="C12"/>
    <metadata key="nozzle_diameters" value="0.4"/>
    <metadata key="prediction" value="1500"/>
    <metadata key="weight" value="3.10"/>
    <object identify_id="205" name="Clip" skipped="false" />
    <filament id="1" tray_info_idx="GFA00" type="PLA" color="#FF8000" used_m="1.04" used_g="3.10"/>
  </plate>
</config>`;

const SETTINGS = JSON.stringify({
  printer_model: 'Bambu Lab P1S',
  layer_height: '0.2',
  nozzle_diameter: ['0.4'],
  filament_type: ['PLA', 'PLA', 'PLA', 'PETG'],
  filament_colour: ['#FF8000', '#FFFFFF', '#000000', '#1F6FEB'],
});

/** G-code with the Bambu header, padded with `lines` seeded moves (so uploads take a while). */
function gcode(minutes, lines) {
  const out = [
    '; HEADER_BLOCK_START',
    '; BambuStudio 02.01.01.52',
    `; model printing time: ${minutes}m 0s; total estimated time: ${minutes}m 30s`,
    '; total layer number: 40',
    '; HEADER_BLOCK_END',
    '; CONFIG_BLOCK_START',
    '; printer_model = Bambu Lab P1S',
    '; CONFIG_BLOCK_END',
    'M73 P0 R85',
    'G28',
  ];
  let seed = 0x2545f491;
  for (let i = 0; i < lines; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    out.push(`G1 X${(seed % 25000) / 100} Y${((seed >>> 8) % 25000) / 100} E${(seed % 997) / 1000}`);
  }
  return Buffer.from(`${out.join('\n')}\n`, 'utf8');
}

/** The two-plate sliced project (`.gcode.3mf`, about 1.5 MB). */
export function slicedProject() {
  return zip([
    ['[Content_Types].xml', Buffer.from('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="model" ContentType="application/vnd.ms-package.3dmanufacturing-3dmodel+xml"/><Default Extension="png" ContentType="image/png"/></Types>')],
    ['_rels/.rels', Buffer.from('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Target="/3D/3dmodel.model" Id="rel-1" Type="http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"/></Relationships>')],
    ['3D/3dmodel.model', Buffer.from(MODEL)],
    ['Metadata/project_settings.config', Buffer.from(SETTINGS)],
    ['Metadata/slice_info.config', Buffer.from(SLICE_INFO)],
    ['Metadata/plate_1.gcode', gcode(85, 60_000)],
    ['Metadata/plate_1.png', png(128, [255, 128, 0])],
    ['Metadata/plate_2.gcode', gcode(25, 20_000)],
    ['Metadata/plate_2.png', png(128, [31, 111, 235])],
  ], { level: 9 });
}
