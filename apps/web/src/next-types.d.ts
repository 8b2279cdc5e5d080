// Next's ambient types (CSS modules, images) for type checks that run before `next build`
// writes next-env.d.ts (which is generated, and ignored by git).
/// <reference types="next" />
/// <reference types="next/image-types/global" />
