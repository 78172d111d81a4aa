export * from './service-parameters';
export * from './validate-parameters';
export * from './route';
export * from './table';
export * from './convergence';
export * from './metrics';
export * from './hostnames';
export * from './hostname-problems';
