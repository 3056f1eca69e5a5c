// NFSv3 (RFC 1813): constants, data types and the codecs of every procedure.

export * from './constants.js';
export * from './types.js';
export * from './attributes.js';
export * from './metadata.js';
export * from './namespace.js';
export * from './data.js';
export * from './readdir.js';
export * from './fsinfo.js';
export * from './program.js';
