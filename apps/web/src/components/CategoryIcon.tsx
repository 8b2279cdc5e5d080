import type { OperatorCategory } from '@sluice/graph-model';
import { memo } from 'react';

export const CATEGORY_LABELS: Record<OperatorCategory, string> = {
  source: 'Sources',
  transform: 'Transforms',
  window: 'Windows',
  join: 'Joins',
  process: 'Process functions',
  sink: 'Sinks',
};

const PATHS: Record<OperatorCategory, string> = {
  source: 'M3 8a5 5 0 1 0 10 0A5 5 0 0 0 3 8Zm5-2.5L10.5 8 8 10.5M5.5 8h5',
  transform: 'M10.5 2.5c-2 0-2.5 1-2.8 3L6.5 13c-.3 1.6-1 2-2.5 2M5 7h5',
  window: 'M2.5 3.5h11v9h-11zM6.2 3.5v9M9.8 3.5v9',
  join: 'M2.5 3.5 8 8l-5.5 4.5v-9ZM13.5 3.5 8 8l5.5 4.5v-9Z',
  process: 'M8 5.5a2.5 2.5 0 1 0 0 5 2.5 2.5 0 0 0 0-5ZM8 1.5v2M8 12.5v2M1.5 8h2M12.5 8h2M3.4 3.4l1.4 1.4M11.2 11.2l1.4 1.4M3.4 12.6l1.4-1.4M11.2 4.8l1.4-1.4',
  sink: 'M2.5 8h8M8 5.5 10.5 8 8 10.5M13 3v10',
};

/** The category's icon; decorative (the label next to it says what it is). */
export const CategoryIcon = memo(function CategoryIcon({ category }: { category: OperatorCategory | 'unknown' }) {
  return (
    <svg className="category-icon" viewBox="0 0 16 16" width="16" height="16" aria-hidden="true" focusable="false">
      <path d={category === 'unknown' ? 'M8 2.5v7M8 12v1.5' : PATHS[category]} fill="none" stroke="currentColor" strokeWidth="1.5" strokeLinecap="round" strokeLinejoin="round" />
    </svg>
  );
});
