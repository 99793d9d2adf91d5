import { evalsPage } from './pages/evals.ts';
import { playgroundPage } from './pages/playground.ts';
import { trainingPage } from './pages/training.ts';
import { trajectoriesPage } from './pages/trajectories.ts';
import { startShell } from './shell.ts';

startShell(document.getElementById('app')!, {
  playground: { title: 'Playground', page: playgroundPage },
  trajectories: { title: 'Trajectories', page: trajectoriesPage },
  training: { title: 'Training', page: trainingPage },
  evals: { title: 'Evals', page: evalsPage },
});
