// A minimal sliced Bambu project (.gcode.3mf) for the browser tests, built
// in memory with the shared ZIP writer (zip.mjs): the members a slicer's
// "export plate sliced file" writes, with the structure of
// docs/PRINTFILE.md / shared/reference/farm.md §1 (no real slicer file copied).

import { zip } from './zip.mjs';

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
